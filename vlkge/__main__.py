import os

# Idle OpenMP threads yield instead of spinning: on a shared or busy machine spinning burns the
# time slices the work needs (measured 15-50x slower small training steps under load).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .cli import main  # noqa: E402

raise SystemExit(main())
