
int f(struct scatterlist *sg, struct iov_iter *it)
{
	struct page *pages[8];
	size_t off;
	ssize_t n = iov_iter_get_pages2(it, pages, 4096, 8, &off);
	struct page *p = pages[0];
	fill_sg(sg, p, n);
	return 0;
}
