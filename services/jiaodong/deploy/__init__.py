"""The region's deployment files rendered from one layout file (`jiaodong deploy render`)."""
