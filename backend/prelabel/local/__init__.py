"""A local deployment on one machine, without Docker: what `prelabel up` starts and `prelabel down` stops.

Redis, Label Studio (in its own virtual environment), `prelabel serve` and one `prelabel worker`, each in a
process session of its own, recorded (pid, start time, port, log) in a state file under the up directory, so
that a second `up` reuses them and `down` stops exactly them, never a process it did not start.

- `up`: `prelabel up` / `down`: start what is missing, make the project ready, queue the pre-labels; stop what
  it started.
- `processes`, `state`: processes in sessions of their own, known by pid and start time; the up directory
  (state file, secrets, logs).
- `labelstudio`, `services`: Label Studio 1.23.2 in its own venv with the settings it needs; our Redis,
  `prelabel serve`, a worker.
"""
