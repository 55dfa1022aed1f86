from vidsleuth.agent.cli.main import main

raise SystemExit(main())
