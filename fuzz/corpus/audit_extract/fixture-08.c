
void fill_sg(struct scatterlist *sg, struct page *pg, unsigned int len)
{
	sg_set_page(sg, pg, len, 0);
}
