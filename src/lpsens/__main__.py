from lpsens.cli import main

raise SystemExit(main())
