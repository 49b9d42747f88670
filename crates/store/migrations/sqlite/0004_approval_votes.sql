-- Each approver's vote on an approval request. A request closes when enough distinct
-- identities approved (the policy's min_approvers for the plan's risk) or when one rejects;
-- an identity approves a request at most once.
CREATE TABLE approval_votes (
    id          INTEGER PRIMARY KEY,
    approval_id INTEGER NOT NULL REFERENCES approvals (id),
    voter       TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    reason      TEXT,
    voted_at    TEXT NOT NULL,
    required    INTEGER NOT NULL
) STRICT;
CREATE INDEX approval_votes_approval ON approval_votes (approval_id, id);
CREATE UNIQUE INDEX approval_votes_once ON approval_votes (approval_id, voter, verdict);
