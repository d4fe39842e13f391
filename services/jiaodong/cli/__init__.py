"""The `jiaodong` command: one module per command group."""
