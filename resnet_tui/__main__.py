from resnet_tui.cli import main

main()
