import sys

from c3po.cli import main

sys.exit(main())
