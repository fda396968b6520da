
static ssize_t get_mapped(struct iov_iter *data, struct page ***pages, size_t count)
{
	size_t off;
	return iov_iter_get_pages_alloc2(data, pages, count, &off);
}
int zc_request(struct scatterlist *sg, struct iov_iter *data)
{
	struct page **in_pages = NULL;
	ssize_t n = get_mapped(data, &in_pages, 4096);
	sg_set_page(sg, in_pages[0], n, 0);
	return 0;
}
