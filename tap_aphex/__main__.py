from tap_aphex.cli import main

main()
