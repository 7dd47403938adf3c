"""Reading and writing RELION's files: MRC images and stacks, STAR tables."""
