"""`python -m jiaodong.cli`."""

from jiaodong.cli.main import main

main()
