"""The people of the security tests' plans and of the shared servers' (tests/shared_airflow.py):
owners, their leaders, a transferee, an outsider (eve, who reads French, so a refusal in French
shows the guard refused) and a cutover manager (mia)."""

ACTORS = [
    ["ID", "Name", "Email", "Team", "Team leader", "Department head", "Language"],
    ["alice", "Alice Martin", "alice@example.com", "Market", "carol", "dave", "en"],
    ["bob", "Bob Peeters", "bob@example.com", "Infra", "carol", "dave", "en"],
    ["carol", "Carol Dubois", "carol@example.com", "Market", "", "dave", "en"],
    ["dave", "Dave Lambert", "dave@example.com", "Direction", "", "", "en"],
    ["frank", "Frank Claes", "frank@example.com", "Market", "carol", "dave", "en"],
    ["eve", "Eve Stranger", "eve@example.com", "Other", "", "", "fr"],
    ["mia", "Mia Renard", "mia@example.com", "Transition office", "", "", "en"],
]
