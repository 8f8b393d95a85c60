"""The torch training core of resnet-tui. Never imports textual or rich."""
