
static void put_in_pipe(struct pipe_inode_info *pipe, struct folio *folio)
{
	struct page *page = folio_page(folio, 0);
	struct pipe_buffer *buf = pipe_head_buf(pipe);
	*buf = (struct pipe_buffer) {
		.ops = &cache_pipe_ops,
		.page = page,
		.len = 4096,
	};
	folio_get(folio);
}
ssize_t my_splice_read(struct file *in, struct pipe_inode_info *pipe, size_t len)
{
	struct folio_batch fbatch;
	int i, err;
	err = filemap_get_pages(&iocb, len, &fbatch, true);
	for (i = 0; i < 4; i++) {
		struct folio *folio = fbatch.folios[i];
		put_in_pipe(pipe, folio);
	}
	return err;
}
