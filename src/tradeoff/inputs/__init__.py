"""Input encoders folded into a shipped ONNX graph, so that a bundle takes raw inputs: a
table's columns (``table``: imputation, scaling, one-hot categories, a mixed table's text
scores), raw texts (``text``: tokenizing to ids or n-gram counts), the text models a mixed
table scores its free-text columns with (``text_scores``), and the word and character
n-grams they share (``ngrams``)."""
