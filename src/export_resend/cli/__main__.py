"""``python -m export_resend.cli``."""

import sys

from export_resend.cli import main

sys.exit(main())
