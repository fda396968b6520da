
void really_hand_on(struct scatterlist *sg, struct page *pg)
{
	sg_set_page(sg, pg, 4096, 0);
}
