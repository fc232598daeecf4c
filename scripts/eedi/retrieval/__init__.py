"""Retrieval: each misconception scored for each row, the top K kept as a ranking.

    tfidf               TF-IDF retrieval (character n-grams)
    embedding           bi-encoder loading, encoding, embedding cache, faiss search
    retriever_training  fine-tuning a bi-encoder (sentence-transformers trainer)
"""
