"""Optional extensions built on threadjobs; the core never imports them."""
