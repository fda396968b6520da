
int w(struct scatterlist *sg, unsigned long addr)
{
	struct page *page;
	get_user_pages_fast(addr, 1, 0, &page);
	hand_on(sg, page);
	return 0;
}
