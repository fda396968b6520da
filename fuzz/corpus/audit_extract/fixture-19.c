
void hand_on(struct scatterlist *sg, struct page *pg)
{
	really_hand_on(sg, pg);
}
