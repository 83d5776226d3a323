from kalmanac.cli import main

raise SystemExit(main())
