import sys

from addressvlm.cli import main


sys.exit(main())
