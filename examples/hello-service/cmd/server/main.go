// Command server answers /greet?lang=fr&name=Ada and /healthz.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"

	"example.com/hello/internal/greet"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	log.Printf("hello-service %s listening on %s", version, *addr)
	log.Fatal(http.ListenAndServe(*addr, handler()))
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/greet", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, greet.Greet(r.URL.Query().Get("lang"), r.URL.Query().Get("name")))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok %s %d languages\n", version, greet.Languages())
	})
	return mux
}
