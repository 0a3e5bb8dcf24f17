"""``latentdirs serve``: the discovery service — a job API and a browser editor (logic in latentdirs.serve)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import validation as v
from ._options import COUNT, RUN_GPUS, THREADS, BoundedInt, check_executor, executor_options


@click.command("serve")
@click.option("--models", "models_dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Folder searched for generators (.pkl, .pt, NAME.json + NAME.safetensors) and direction files; "
                   "the bundled generators are always there.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False), default="latentdirs-data", show_default=True,
              help="Folder for the job database, job results, logs and uploads (created when missing).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any address other than localhost requires an access token.")
@click.option("--port", type=BoundedInt(v.PORT), default=8765, show_default=True)
@click.option("--workers", type=BoundedInt(v.JOB_WORKERS), default=1, show_default=True, help="Jobs run at once.")
@click.option("--token", envvar="LATENTDIRS_TOKEN", default=None,
              help="Access token every request must carry (also $LATENTDIRS_TOKEN); with --host beyond localhost "
                   "and no token, one is generated and printed once.")
@click.option("--device", default="cpu", show_default=True, help="Device the editor renders on: cpu, cuda, auto.")
@click.option("--job-threads", type=THREADS, default=1, show_default=True,
              help="torch threads of each job (the CPUs it asks a Ray cluster for).")
@click.option("--job-gpus", type=RUN_GPUS, default=0.0, show_default=True,
              help="GPUs each job asks a Ray cluster for (fractions share one); jobs still compute on their "
                   "device option.")
@click.option("--max-upload-mb", type=COUNT, default=512, show_default=True, help="Largest upload accepted.")
@executor_options
def command(models_dir, data_dir, host, port, workers, token, device, job_threads, job_gpus, max_upload_mb, executor,
            address) -> None:
    """Serve the direction editor and a job API (discover, evaluate-directions, train-vae) over HTTP.

    Open the printed address in a browser: pick a generator and a direction set, move one slider per
    direction, start a discovery and watch it, open its report, download its exports. The same service is
    a JSON API (/api/...; /openapi.json describes it). Jobs and their results live in --data and survive
    a restart: Ctrl-C or SIGTERM stops running jobs at a checkpoint, and they continue at the next start.

    \b
    Examples:
      latentdirs serve                                   # bundled generator, http://127.0.0.1:8765/
      latentdirs serve --models ~/generators --data runs/serve --workers 2
      latentdirs serve --host 0.0.0.0 --port 8080        # prints a link with a generated token
      latentdirs serve --data /shared/serve --executor ray --address auto --workers 16   # jobs on a Ray cluster
      curl -X POST localhost:8765/api/jobs -H 'Content-Type: application/json' -d '{"command": "discover", \\
          "options": {"generator": "dsprites_generator", "method": "sefa", "num_directions": 6}}'
    """
    import logging
    import secrets

    import uvicorn

    from ..seeding import resolve_device
    from ..serve.app import create_app
    from ..serve.settings import LOCAL_HOSTS, ServeSettings

    check_executor(executor, address)
    generated = token is None and host not in LOCAL_HOSTS
    if generated:
        token = secrets.token_urlsafe(24)
    settings = ServeSettings(data_dir=Path(data_dir).resolve(), models_dir=Path(models_dir).resolve() if models_dir
                             else None, token=token, workers=workers, device=str(resolve_device(device)),
                             max_upload_bytes=max_upload_mb << 20, job_threads=job_threads, job_gpus=job_gpus,
                             executor=executor, address=address)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    holder: dict[str, uvicorn.Server] = {}
    app = create_app(settings, is_stopping=lambda: "server" in holder and holder["server"].should_exit)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, timeout_graceful_shutdown=5, log_level="info"))
    holder["server"] = server
    shown_host = f"[{host}]" if ":" in host else host
    link = f"http://{shown_host}:{port}/" + (f"?token={token}" if generated else "")
    click.echo(f"latentdirs serve: editor and API at {link}" + (" (the token is shown only this once)"
                                                                 if generated else ""))
    click.echo(f"  data: {settings.data_dir}; models: {settings.models_dir or 'bundled only'}; Ctrl-C stops "
               "(running jobs save a checkpoint and continue at the next start)")
    server.run()
