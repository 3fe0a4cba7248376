from cab_check.cli import main

raise SystemExit(main())
