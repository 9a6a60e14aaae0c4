"""Questions and answers: a course Q&A space with search, votes, acceptance and endorsements."""
