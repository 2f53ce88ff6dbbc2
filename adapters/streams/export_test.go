package streams

// DeadLetterPage is how many parked entries ReplayAll and DropAll hold at
// once; tests park more than that to cross page boundaries.
const DeadLetterPage = deadLetterPage
