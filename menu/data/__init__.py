"""Data layer: WebDataset line shards (``shards``), batches (``dataset``, ``loader``),
normalizations (``normalize``, ``image``), the codec (``codec``), generated lines
(``synth``, ``text``) and looking at data (``viz``)."""
