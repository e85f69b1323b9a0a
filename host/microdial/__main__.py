import sys

from microdial.cli import main

sys.exit(main())
