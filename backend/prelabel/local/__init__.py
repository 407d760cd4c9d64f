"""A local deployment on one machine, without Docker: what `prelabel up` starts and `prelabel down` stops.

Redis, Label Studio (in its own virtual environment), `prelabel serve` and one `prelabel worker`, each in a
process session of its own, recorded (pid, start time, port, log) in a state file under the up directory, so
that a second `up` reuses them and `down` stops exactly them, never a process it did not start.
"""
