"""Network architectures ganrt trains itself (spandrel provides the ones it only loads)."""
