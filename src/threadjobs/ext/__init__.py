"""Optional extensions built on threadjobs; each subpackage is self-contained and the core never imports them."""
