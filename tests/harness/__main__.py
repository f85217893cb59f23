import sys

from .envctl import main

sys.exit(main())
