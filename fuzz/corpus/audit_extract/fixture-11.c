
int h(unsigned long addr)
{
	struct page *page;
	int n = get_user_pages_fast(addr, 1, 0, &page);
	if (n == 1)
		put_page(page);
	return n;
}
