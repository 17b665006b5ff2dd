"""The data a warehouse is fed: the synthetic generator and its scenario knobs, the loader and
the raw tables' contract, and the pandas oracle of point-in-time features."""
