package goinput

// Head is head, for the tests.
var Head = head
