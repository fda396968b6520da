
static struct page *grab_one(unsigned long addr)
{
	struct page *page;
	if (get_user_pages_fast(addr, 1, 0, &page) != 1)
		return NULL;
	return page;
}
int g(struct device *dev, unsigned long addr)
{
	struct page *p = grab_one(addr);
	dma_map_page(dev, p, 0, PAGE_SIZE, DMA_TO_DEVICE);
	return 0;
}
