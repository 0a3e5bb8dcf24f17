"""``latentdirs losses``: list the registered loss terms and their parameters."""

import click


@click.command("losses")
@click.argument("name", required=False)
@click.option("--domain", type=click.Choice(["vae", "directions"]), default=None, help="Only terms for this trainer.")
def command(name: str | None, domain: str | None) -> None:
    """List every registered loss term with its role, trainers and parameters; with NAME, that term in full
    (its formula and paper, and what each parameter means).

    \b
    Examples:
      latentdirs losses --domain vae
      latentdirs losses gmg
    """
    from ..losses.registry import describe_all, describe_term

    click.echo(describe_term(name) if name else describe_all(domain))
