// Command krs-nodeadm-check runs nodeadm's own code on EC2 user data, on a machine without
// systemd. It is built inside a copy of nodeadm's module (tests/bin/build-go.sh), because the code
// it calls is internal to that module.
//
//	krs-nodeadm-check USER_DATA_FILE
//	    Reads the user data the way nodeadm does on an AL2023 node (the user-data config provider:
//	    MIME multi-part parsing, decoding, merging NodeConfig parts in order), applies the
//	    validation `nodeadm init` applies, and prints the resulting NodeConfig as JSON, or fails
//	    with nodeadm's own error. The user data is served to the provider by a metadata service on
//	    loopback, as IMDS serves it on EC2.
//
//	krs-nodeadm-check configure
//	    The config phase of `nodeadm init --daemon kubelet`: the NodeConfig from the user data of
//	    the instance metadata service at AWS_EC2_METADATA_SERVICE_ENDPOINT, enriched with that
//	    instance's details, validated, then nodeadm's kubelet daemon writes its files (kubelet
//	    configuration and drop-in, kubeconfig, cluster CA, image credential provider config,
//	    /etc/eks/kubelet/environment with the kubelet's arguments) where it writes them on a node.
//	    `nodeadm init` itself cannot run here: it opens a systemd D-Bus connection before any
//	    phase, and this machine has no systemd. The caller confines the writes (a private mount
//	    namespace with overlays on /etc and /var/lib) and starts the kubelet from the files.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/awslabs/amazon-eks-ami/nodeadm/internal/api"
	"github.com/awslabs/amazon-eks-ami/nodeadm/internal/aws/ecr"
	"github.com/awslabs/amazon-eks-ami/nodeadm/internal/configprovider"
	"github.com/awslabs/amazon-eks-ami/nodeadm/internal/kubelet"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: krs-nodeadm-check USER_DATA_FILE | krs-nodeadm-check configure")
		os.Exit(2)
	}
	var err error
	if os.Args[1] == "configure" {
		err = configure()
	} else {
		err = check(os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodeadm:", err)
		os.Exit(1)
	}
}

func check(userDataFile string) error {
	userData, err := os.ReadFile(userDataFile)
	if err != nil {
		return err
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
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
		return err
	}
	if err := api.ValidateNodeConfig(config); err != nil {
		return err
	}
	out, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	return nil
}

func configure() error {
	config, err := configprovider.NewUserDataConfigProvider().Provide()
	if err != nil {
		return err
	}
	// What `nodeadm init` does before validating (its enrichConfig, which is not exported).
	details, err := api.GetIMDSInstanceDetails(context.TODO(), imds.New(imds.Options{}))
	if err != nil {
		return err
	}
	config.Status.Instance = *details
	registry, err := ecr.GetEKSRegistry(details.Region)
	if err != nil {
		return err
	}
	config.Status.Defaults = api.DefaultOptions{SandboxImage: registry.GetSandboxImage()}
	if err := api.ValidateNodeConfig(config); err != nil {
		return err
	}
	// The kubelet daemon's Configure never touches the daemon manager (only its EnsureRunning does).
	return kubelet.NewKubeletDaemon(nil).Configure(config)
}
