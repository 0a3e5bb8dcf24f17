"""The discovery service behind ``latentdirs serve``: a job API and a browser editor in one process.

- :mod:`.app` builds the FastAPI application from :class:`~.settings.ServeSettings`;
- :mod:`.auth` checks the access token (and, without one, that requests are addressed to localhost);
- :mod:`.registry` lists generators and direction sets by name (a request never gives a path);
- :mod:`.render` edits images with cached generators and mapped codes (same pixels as ``latentdirs edit``);
- :mod:`.jobspec` turns a job's JSON options into the command's argv, checked by the click command itself;
- :mod:`.jobsdb` keeps job state in SQLite (WAL) under ``--data``;
- :mod:`.runner` queues, starts, cancels and resumes jobs on an executor (:mod:`latentdirs.executors`);
- :mod:`.joblog` reads progress (steps, loss, ETA) from a job's output; :mod:`.events` streams it (SSE);
- :mod:`.results` lists, serves and exports a job's files; :mod:`.api_models`, :mod:`.api_jobs` and
  :mod:`.page` are the routes; ``static/`` holds the editor page (plain HTML, JS and CSS).
"""
