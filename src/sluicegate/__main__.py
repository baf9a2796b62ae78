from sluicegate.cli.main import main

main()
