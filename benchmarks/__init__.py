"""Benchmarks of fal-platform against the local emulator: `make bench` / `python -m benchmarks`.

Every measured client runs in its own fresh subprocess (`benchmarks.worker`) so its CPU time and
peak RSS are its own, and every benchmark gets its own fresh emulator process so the server's CPU
is separate too. See benchmarks/README.md for what each benchmark measures and how.
"""
