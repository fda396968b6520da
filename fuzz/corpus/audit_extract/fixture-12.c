
int zc(struct sk_buff *skb, struct iov_iter *from)
{
	struct page *pages[17];
	size_t start;
	ssize_t copied = iov_iter_get_pages2(from, pages, 65536, 17, &start);
	int n = 0, frag = 0;
	while (copied > 0) {
		struct page *head = compound_head(pages[n]);
		skb_fill_page_desc_noacc(skb, frag++, head, start, 4096);
		copied -= 4096;
		n++;
	}
	return 0;
}
