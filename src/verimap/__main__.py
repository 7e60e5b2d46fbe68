import sys

from verimap.cli import main

sys.exit(main())
