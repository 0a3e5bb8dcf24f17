"""``latentdirs losses``: list the registered loss terms and their parameters."""

import click


@click.command("losses")
@click.option("--domain", type=click.Choice(["vae", "directions"]), default=None, help="Only terms for this trainer.")
def command(domain: str | None) -> None:
    """List every registered loss term with its role, trainers and parameters.

    \b
    Example:
      latentdirs losses --domain vae
    """
    from ..losses.registry import describe_all

    click.echo(describe_all(domain))
