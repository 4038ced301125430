"""Detection methods: one module each (correlation, mfcc, onset, spectral)."""
