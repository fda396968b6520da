
int send_user(struct nic *nic, unsigned long addr)
{
	struct page *page;
	get_user_pages_fast(addr, 1, 0, &page);
	return nic->ops->xmit(nic, page);
}
