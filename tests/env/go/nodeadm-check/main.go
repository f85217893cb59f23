// Command krs-nodeadm-check reads EC2 user data the way nodeadm does on an AL2023 node and prints
// the NodeConfig nodeadm ends up with, as JSON, or fails with nodeadm's own error.
//
// It is built inside a copy of nodeadm's module (tests/bin/build-go.sh), because the code it
// calls is internal to that module: the user-data config provider (MIME multi-part parsing,
// decoding, merging NodeConfig parts in order) and the validation `nodeadm init` applies. The user
// data is served to that provider by a metadata service on loopback, as IMDS serves it on EC2.
//
//	usage: krs-nodeadm-check USER_DATA_FILE
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/awslabs/amazon-eks-ami/nodeadm/internal/api"
	"github.com/awslabs/amazon-eks-ami/nodeadm/internal/configprovider"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: krs-nodeadm-check USER_DATA_FILE")
		os.Exit(2)
	}
	userData, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/latest/api/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
		fmt.Fprint(w, "token")
	})
	mux.HandleFunc("/latest/user-data", func(w http.ResponseWriter, r *http.Request) {
		w.Write(userData)
	})
	go http.Serve(listener, mux)
	os.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://"+listener.Addr().String())

	config, err := configprovider.NewUserDataConfigProvider().Provide()
	if err != nil {
		fail(err)
	}
	if err := api.ValidateNodeConfig(config); err != nil {
		fail(err)
	}
	out, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "nodeadm:", err)
	os.Exit(1)
}
